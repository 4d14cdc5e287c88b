"""torch + torchvision: model zoo, checkpoints, inference, training, evaluation, introspection. No Qt."""
