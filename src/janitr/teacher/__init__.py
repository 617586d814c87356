"""The transformer teacher: model, MLM pretraining, calibration, logit cache."""
