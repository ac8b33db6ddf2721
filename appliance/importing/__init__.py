"""Contact file import (SPEC D2, D3): reading CSV files, validating rows, reject reports."""
