"""The C part of the package: the contact import's row check (appliance/_rowfast.c).

Everything else about the package is in pyproject.toml; setuptools reads both. Warnings are
errors only where we choose the compiler (CI and development: DIALBOX_WERROR=1), never for a
user whose newer compiler warns about something new."""

import os

from setuptools import Extension, setup

WERROR = ["-Werror"] if os.environ.get("DIALBOX_WERROR") == "1" else []

setup(
    ext_modules=[
        Extension(
            "appliance._rowfast",
            sources=["appliance/_rowfast.c"],
            extra_compile_args=["-O2", "-Wall", *WERROR, "-std=c11"],
        )
    ]
)
