"""The Django app of the Viewflow driver: Viewflow resolves a flow only from a module of an installed app."""
