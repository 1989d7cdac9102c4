"""Role-based access control: the rule catalog, default roles and permission checks."""
