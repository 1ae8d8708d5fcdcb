"""The catalogue seeded on first start (idempotent: existing products are left alone)."""

from __future__ import annotations

from inventory.handlers import NewProduct

SEED = (
    NewProduct("JNC-MUG", "Junction mug", 1200, 500),
    NewProduct("JNC-TEE", "Junction T-shirt", 2500, 500),
    NewProduct("JNC-CAP", "Junction cap", 1800, 300),
    NewProduct("JNC-STICKERS", "Sticker pack", 400, 2000),
    NewProduct("JNC-HOODIE", "Junction hoodie", 5500, 200),
)
