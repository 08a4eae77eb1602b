"""Reports rendered from results in the store, in Chinese or English."""
