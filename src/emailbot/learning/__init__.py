"""The learning loop: people's corrections become training data, accuracy figures and threshold advice."""
