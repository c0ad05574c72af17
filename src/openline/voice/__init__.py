"""Audio for voice calls: formats and resampling, turn detection, speech-to-text and
text-to-speech providers. Nothing here knows about calls, the store or the network
protocol; the harness composes these parts into a call's voice pipeline."""
