"""JT/T 808 (2011/2013 and 2019) terminals into the MQTT contract: frames, messages, gateway."""
