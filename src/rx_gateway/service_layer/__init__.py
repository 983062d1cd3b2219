"""Use cases: adjudicate, reverse, check eligibility. Talks to storage through ports only."""
