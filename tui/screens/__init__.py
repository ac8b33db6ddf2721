"""The console's modal screens, one a module with its CSS beside it (`CSS_PATH`): a form that
returns its values, a message to read and close, a question to confirm. Each fits 80×24: what
is longer scrolls inside, the buttons stay on screen."""
