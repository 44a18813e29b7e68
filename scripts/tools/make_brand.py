"""Draw the brand images (a meter dial with a lightning bolt) into brand/.

Run once when the design changes: python scripts/tools/make_brand.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[2] / "custom_components/smart_meter_hub/brand"


def icon(size: int) -> Image.Image:
    """Draw the square icon."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = size / 256
    draw.rounded_rectangle(
        (16 * s, 16 * s, 240 * s, 240 * s), radius=40 * s, fill=(3, 169, 244)
    )
    draw.ellipse((48 * s, 40 * s, 208 * s, 200 * s), fill=(255, 255, 255))
    bolt = [
        (140, 56),
        (92, 128),
        (124, 128),
        (108, 184),
        (164, 104),
        (130, 104),
        (150, 56),
    ]
    draw.polygon([(x * s, y * s) for x, y in bolt], fill=(255, 171, 0))
    draw.rounded_rectangle(
        (72 * s, 208 * s, 184 * s, 224 * s), radius=6 * s, fill=(255, 255, 255)
    )
    return image


def logo(height: int) -> Image.Image:
    """Draw the wide logo: the icon and three bars."""
    mark = icon(height)
    image = Image.new("RGBA", (height * 3, height), (0, 0, 0, 0))
    image.paste(mark, (0, 0))
    draw = ImageDraw.Draw(image)
    for i in range(3):  # three bars: readings
        top = int(height * (0.55 - 0.15 * i))
        left = int(height * (1.2 + 0.55 * i))
        draw.rectangle(
            (left, top, left + int(height * 0.35), int(height * 0.85)),
            fill=(3, 169, 244),
        )
    return image


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    icon(256).save(OUT / "icon.png")
    icon(512).save(OUT / "icon@2x.png")
    logo(128).save(OUT / "logo.png")
    logo(256).save(OUT / "logo@2x.png")
