"""Export to deployment formats (TFLite, ONNX), each file written atomically."""
