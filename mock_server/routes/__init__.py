"""HTTP routes: thin translations between requests and the domain."""
