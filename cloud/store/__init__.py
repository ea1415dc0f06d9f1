"""The operator's event store: every alert's stages, description and images, bounded by retention."""
