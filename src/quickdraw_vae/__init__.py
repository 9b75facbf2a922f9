"""quickdraw-vae: VAEs on Quick, Draw! bitmaps, trained, compared and judged under DVC."""

__version__ = "0.1.0"
