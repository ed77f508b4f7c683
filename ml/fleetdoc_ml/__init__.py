"""fleetdoc's training pipeline: simulator data, features, anomaly model, fault classifier, ONNX export."""
