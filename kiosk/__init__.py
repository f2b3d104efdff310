"""Self-service kiosk: pure flows, device daemon, Kivy UI, speech (the kiosk issue)."""
