"""fleetdoc's training pipeline: features, synthetic fleets, anomaly model, ONNX export."""
