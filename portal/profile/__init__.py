"""The contact's own profile and personal data (issue 16): the form, the e-mail change
links, erasure requests and the export of what the portal holds about the contact."""
