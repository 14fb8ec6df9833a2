"""What operators do with EmailBot's work: approve, edit or reject drafts, correct categories, re-run, resolve."""
