"""Geography: states, districts and PIN codes with Co-WIN's ids; vaccination centres."""
