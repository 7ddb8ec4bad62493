"""Pure analysis functions (canary marks, leak matching, deconfliction); later issues fill it."""
