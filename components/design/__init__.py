"""Using a blessed model: scoring sequences and designing new aptamers."""
