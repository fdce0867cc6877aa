"""``painterly train-decoder``: train the decoder that the instant quality of every method uses."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def cmd_train_decoder(args) -> int:
    from painterly.engine.device import select_device
    from painterly.engine.instant.train_decoder import DecoderSettings, train_decoder
    settings = DecoderSettings(steps=args.steps, size=args.size, batch=args.batch,
                               learning_rate=args.learning_rate, pixel_weight=args.pixel_weight, seed=args.seed,
                               half=not args.full_precision)
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    start = time.monotonic()
    out = train_decoder(args.output, settings, sources=args.images, resume=args.resume, minutes=args.minutes,
                        log=log, device=select_device(args.device))
    log(f"wrote {out} in {(time.monotonic() - start) / 60:.1f} min; use it with PAINTERLY_DECODER={out}")
    return 0


def register(sub) -> None:
    t = sub.add_parser("train-decoder", help="train the decoder of the instant quality (reconstruction only)",
                       description="Train the decoder that turns the encoder's features back into an image, for "
                                   "reconstruction only (no style, no paintings needed): one decoder serves every "
                                   "painting. Images: scikit-image's sample photos plus any folders, images or "
                                   "video files given. -o gets the finished (half-precision) decoder, "
                                   "-o.ckpt the resumable state. See docs/instant.md for the recipes.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("images", nargs="*", type=Path, help="more training images: folders, image or video files")
    t.add_argument("-o", "--output", type=Path, required=True, help="decoder file to write (.pt)")
    t.add_argument("--steps", type=int, default=1000, help="training steps (the learning rate follows a cosine)")
    t.add_argument("--minutes", type=float, default=0.0, help="stop after this many minutes of training (0 = no "
                                                              "limit); --resume continues")
    t.add_argument("--size", type=int, default=128, help="crop side in pixels")
    t.add_argument("--batch", type=int, default=8, help="crops per step")
    t.add_argument("--learning-rate", type=float, default=7e-4, help="Adam learning rate at the start")
    t.add_argument("--pixel-weight", type=float, default=4.0, help="weight of the pixel loss beside the features'")
    t.add_argument("--seed", type=int, default=0, help="random seed")
    t.add_argument("--full-precision", action="store_true", help="no bfloat16 autocast on the CPU")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint at -o.ckpt")
    t.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    t.add_argument("--quiet", action="store_true", help="no progress lines")
    t.set_defaults(func=cmd_train_decoder)
