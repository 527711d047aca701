"""Text as a condition: tokenizers and text encoders (the built-in joint-embedding encoder and a
frozen CLIP text tower from local weights), shared by the text-to-image models and samplers."""

from ganforge.text.build import build_text_encoder, build_tokenizer, sentence_dim
from ganforge.text.encoder import FrozenText, ImageEncoder, TextEncoder, TextFeatures
from ganforge.text.tokenizer import PAD_ID, WordTokenizer, build_vocabulary, words

__all__ = [
    "PAD_ID", "FrozenText", "ImageEncoder", "TextEncoder", "TextFeatures", "WordTokenizer",
    "build_text_encoder", "build_tokenizer", "build_vocabulary", "sentence_dim", "words",
]
