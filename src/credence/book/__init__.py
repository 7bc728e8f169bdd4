"""The policy book: a policy's rules beside their law, its analysis and its worked examples."""
