"""What every API handler shares: who the caller is, and what they may do."""
