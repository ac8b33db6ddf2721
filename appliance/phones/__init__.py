"""Phone numbers: libphonenumber's answers for the app (numbers.py) and the import's fast check (fast.py).

Everything that decides compliance — a DNC entry's E.164 form, a callee's zones for calling
hours — is `numbers`, on the public API of `phonenumbers` only. `fast` is the contact import's
row check and nothing else imports it.
"""

from appliance.phones.numbers import (
    InvalidPhone,
    normalize,
    normalize_with_zone_key,
    zone_key,
    zones_for,
)

__all__ = ["InvalidPhone", "normalize", "normalize_with_zone_key", "zone_key", "zones_for"]
