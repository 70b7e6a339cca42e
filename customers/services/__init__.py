"""Every write to customer data goes through a function in this package."""
