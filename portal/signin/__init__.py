"""How a contact signs in and stays signed in: sessions, rate limits, links, OAuth."""
