"""The supervisord target: INI program files, their read-back, and the bundle layout."""
