"""A captioned dataset that needs no download: flat-colour shapes drawn with OpenCV.

Every scene is drawn from a seed, so the same seed always gives the same picture and
caption. Some (colour, shape, background) combinations are held out of training so an
evaluation can ask for combinations the model never saw together.
"""

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (240, 210, 30),
    "purple": (140, 50, 180),
    "orange": (245, 130, 20),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = {"small": 0.34, "large": 0.56}  # bounding-box side as a fraction of the image side
POSITIONS = {
    "in the center": (0.5, 0.5),
    "top left": (0.3, 0.3),
    "top right": (0.7, 0.3),
    "bottom left": (0.3, 0.7),
    "bottom right": (0.7, 0.7),
}


@dataclass(frozen=True)
class ShapeSpec:
    shape: str
    colour: str
    size: str = "large"
    position: str = "in the center"

    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[ShapeSpec, ...]

    @property
    def caption(self) -> str:
        if len(self.objects) == 1:
            obj = self.objects[0]
            where = "" if obj.position == "in the center" else f", {obj.position}"
            return f"{obj.phrase()} on a {self.background} background{where}"
        parts = " and ".join(f"{o.phrase()} {_short_position(o.position)}" for o in self.objects)
        return f"{parts} on a {self.background} background"

    def combo(self) -> tuple[str, str, str]:
        """(colour, shape, background) of the first object: what held-out splits are made of."""
        return self.objects[0].colour, self.objects[0].shape, self.background


def _short_position(position: str) -> str:
    return "in the center" if position == "in the center" else f"at the {position}"


def held_out_combos(seed: int = 0, count: int = 12) -> frozenset[tuple[str, str, str]]:
    """Combinations never shown in training; every colour, shape and background still is."""
    rng = random.Random(seed)
    combos = [(c, s, b) for c in COLOURS for s in SHAPES for b in BACKGROUNDS]
    rng.shuffle(combos)
    held: list[tuple[str, str, str]] = []
    for combo in combos:
        if len(held) == count:
            break
        # At most 2 held out per colour and per shape keeps each one well covered.
        if sum(h[0] == combo[0] for h in held) < 2 and sum(h[1] == combo[1] for h in held) < 3:
            held.append(combo)
    return frozenset(held)


def random_scene(rng: random.Random, exclude: frozenset = frozenset(), two_object_rate: float = 0.15) -> Scene:
    while True:
        background = rng.choice(list(BACKGROUNDS))
        if rng.random() < two_object_rate:
            left, right = rng.sample(["top left", "bottom right", "top right", "bottom left"], 2)
            objects = tuple(ShapeSpec(rng.choice(SHAPES), rng.choice(list(COLOURS)), "small", p) for p in (left, right))
        else:
            size = rng.choice(list(SIZES))
            position = "in the center" if size == "large" and rng.random() < 0.6 else rng.choice(list(POSITIONS))
            objects = (ShapeSpec(rng.choice(SHAPES), rng.choice(list(COLOURS)), size, position),)
        scene = Scene(background, objects)
        if not any((o.colour, o.shape, background) in exclude for o in objects):
            return scene


def render(scene: Scene, size: int = 128, jitter: random.Random | None = None) -> np.ndarray:
    """HxWx3 uint8 RGB. `jitter` moves/turns shapes slightly so the model sees variety."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = BACKGROUNDS[scene.background]
    for obj in scene.objects:
        side = SIZES[obj.size] * size
        cx, cy = (v * size for v in POSITIONS[obj.position])
        angle = 0.0
        if jitter is not None:
            cx += jitter.uniform(-0.04, 0.04) * size
            cy += jitter.uniform(-0.04, 0.04) * size
            side *= jitter.uniform(0.9, 1.1)
            angle = jitter.uniform(-0.15, 0.15)
        _draw(image, obj.shape, COLOURS[obj.colour], cx, cy, side, angle)
    return image


def _draw(image: np.ndarray, shape: str, colour, cx: float, cy: float, side: float, angle: float) -> None:
    r = side / 2
    if shape == "circle":
        cv2.circle(image, (round(cx), round(cy)), round(r), colour, -1, lineType=cv2.LINE_AA)
        return
    if shape == "square":
        half = r * 0.85  # a square as wide as the circle would look much heavier
        points = [(-half, -half), (half, -half), (half, half), (-half, half)]
    elif shape == "triangle":
        corners = (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))
        points = [(r * math.cos(a), r * math.sin(a) + r * 0.15) for a in corners]
    elif shape == "star":
        points = [
            ((r if k % 2 == 0 else r * 0.42) * math.cos(a), (r if k % 2 == 0 else r * 0.42) * math.sin(a))
            for k, a in enumerate(-math.pi / 2 + k * math.pi / 5 for k in range(10))
        ]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    cos, sin = math.cos(angle), math.sin(angle)
    turned = [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in points]
    polygon = np.round(np.array(turned) * 16).astype(np.int32)  # 4 fractional bits: smooth edges
    cv2.fillPoly(image, [polygon], colour, lineType=cv2.LINE_AA, shift=4)
