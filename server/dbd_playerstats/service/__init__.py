"""One request's orchestration: which Steam calls it makes, in what order, and the parts it streams back."""
