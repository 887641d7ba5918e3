"""Study drivers and the learning-rate protocol."""
