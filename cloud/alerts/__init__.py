"""Alerts: two stages under one alert id (detected -> described), delivered to sinks."""
