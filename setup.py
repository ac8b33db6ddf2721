"""The C part of the package: the contact import's row check (appliance/_rowfast.c).

Everything else about the package is in pyproject.toml; setuptools reads both."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "appliance._rowfast",
            sources=["appliance/_rowfast.c"],
            extra_compile_args=["-O2", "-Wall", "-Werror", "-std=c11"],
        )
    ]
)
