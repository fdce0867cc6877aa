"""Builds the bundled demo: the espresso cup of coffee.png cut out and pasted into The Starry Night.

Writes demo_composite.png (the naive paste) and demo_mask.png (the pasted object's mask) next to this
file. Run once; the outputs are committed so the demo needs no extra step.
Sources (both redistributable, see README.md in this folder): starry_night.jpg, coffee.png.
"""
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
SAUCER = (77, 70, 479, 386)      # the cup and saucer's bounding ellipse in coffee.png
SCALE = 0.42
CENTER = (590, 445)              # where the object lands in the painting


def main():
    painting = Image.open(HERE / "starry_night.jpg").convert("RGB")
    photo = Image.open(HERE / "coffee.png").convert("RGB")
    cut_mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(cut_mask).ellipse(SAUCER, fill=255)
    cut_mask = cut_mask.filter(ImageFilter.GaussianBlur(1.0))  # anti-aliased edge like a lasso cut
    obj = photo.crop(SAUCER)
    obj_mask = cut_mask.crop(SAUCER)
    size = (round(obj.width * SCALE), round(obj.height * SCALE))
    obj, obj_mask = obj.resize(size, Image.LANCZOS), obj_mask.resize(size, Image.LANCZOS)
    at = (CENTER[0] - size[0] // 2, CENTER[1] - size[1] // 2)
    composite = painting.copy()
    composite.paste(obj, at, obj_mask)
    mask = Image.new("L", painting.size, 0)
    mask.paste(obj_mask, at)
    composite.save(HERE / "demo_composite.png")
    mask.save(HERE / "demo_mask.png")


if __name__ == "__main__":
    main()
