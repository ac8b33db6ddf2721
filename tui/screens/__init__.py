"""The console's modal screens, one a module with its CSS beside it (`CSS_PATH`): a form that
returns its values, and a message to read and close."""
