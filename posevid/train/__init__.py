"""Training and evaluation: labelled datasets, the training stages (pose network, pooling layer,
person detector), the teacher, evaluation and plots."""
