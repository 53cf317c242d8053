"""The typed model and the pure rules over it: player ids, grades, adepts, achievement views and the safe merge.
Nothing here does I/O."""
