"""Plain-Python domain model: boxes, categories, image records, undoable commands. No Qt, no torch."""
