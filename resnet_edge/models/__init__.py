"""The model zoo: the depth table (specs), blocks, the builder, and MAC/parameter counting."""
