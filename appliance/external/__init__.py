"""External lists (SPEC D9): the customer's database, read and written through SQLAlchemy Core."""
