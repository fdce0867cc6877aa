"""Colour-coded label maps → per-label masks."""
import numpy as np
import pytest

from painterly.engine.segmentation import LABEL_NAMES, SegmentationError, label_map, label_pairs

BLUE, GREEN, BLACK, WHITE = (0, 0, 255), (0, 255, 0), (0, 0, 0), (255, 255, 255)


def painted(h, w, regions):
    """uint8 label image: list of (colour, (y0, y1, x0, x1))."""
    img = np.zeros((h, w, 3), np.uint8)
    for colour, (y0, y1, x0, x1) in regions:
        img[y0:y1, x0:x1] = colour
    return img


def test_nearest_colour_snapping_of_off_values():
    img = painted(20, 20, [(BLUE, (0, 10, 0, 20)), (GREEN, (10, 20, 0, 20))]).astype(np.int16)
    img[2, 3] = (12, 20, 240)          # slightly off blue
    img[15, 4] = (30, 230, 10)         # slightly off green
    labels = label_map(np.clip(img, 0, 255).astype(np.uint8))
    assert (labels[:10] == LABEL_NAMES.index("blue")).all()
    assert (labels[10:] == LABEL_NAMES.index("green")).all()
    # float input in [0, 1] gives the same labels
    np.testing.assert_array_equal(label_map(img.astype(np.float32) / 255), labels)


def test_antialiased_edge_does_not_become_a_label():
    img = painted(30, 30, [(WHITE, (0, 30, 0, 15))])
    img[:, 15] = (128, 128, 128)       # grey anti-aliasing between white and black
    labels = label_map(img)
    assert set(np.unique(labels)) == {LABEL_NAMES.index("white"), LABEL_NAMES.index("black")}


def test_only_labels_on_both_sides_are_used():
    content = painted(20, 20, [(BLUE, (0, 10, 0, 20)), (GREEN, (10, 20, 0, 20))])
    style = painted(24, 16, [(BLUE, (0, 12, 0, 16)), (WHITE, (12, 24, 0, 16))])
    pairs = label_pairs(content, style, (20, 20), (24, 16))
    assert [p.name for p in pairs] == ["blue"]
    assert pairs[0].content.shape == (20, 20) and pairs[0].style.shape == (24, 16)
    assert pairs[0].content[:10].all() and not pairs[0].content[10:].any()
    assert pairs[0].style[:12].all() and not pairs[0].style[12:].any()


def test_masks_follow_working_size():
    content = painted(40, 40, [(BLUE, (0, 20, 0, 40))])
    pairs = label_pairs(content, content, (10, 10), (20, 20))
    by_name = {p.name: p for p in pairs}
    assert set(by_name) == {"blue", "black"}
    assert by_name["blue"].content.shape == (10, 10)
    assert by_name["blue"].content[:5].all() and not by_name["blue"].content[5:].any()
    assert (by_name["blue"].content + by_name["black"].content == 1).all()


def test_no_maps_means_one_label_and_one_map_is_an_error():
    pairs = label_pairs(None, None, (5, 6), (7, 8))
    assert len(pairs) == 1 and pairs[0].content.shape == (5, 6) and pairs[0].style.all()
    with pytest.raises(SegmentationError, match="style"):
        label_pairs(painted(5, 5, []), None, (5, 5), (5, 5))


def test_disjoint_maps_are_refused():
    with pytest.raises(SegmentationError, match="share no label"):
        label_pairs(painted(20, 20, [(BLUE, (0, 20, 0, 20))]), painted(20, 20, [(GREEN, (0, 20, 0, 20))]),
                    (20, 20), (20, 20))
