"""The tiny student: tokenizer, model, distillation, ONNX export, int8."""
