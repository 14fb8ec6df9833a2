"""Classifiers turn normalized emails into classifications."""
