"""The live token counter beside each prompt box (imports torch only when first used)."""


class TokenCounter:
    """`12/75`, `80/150` beside a prompt box: tokens of the longest text the prompt can become
    (any AND part, any step of its schedule), as A1111 counts them."""

    def __init__(self, engine):
        self._engine = engine
        self._fallback = None  # the carried SD 1.x tokenizer, until a model is loaded

    def _tokenizer_and_embeddings(self):
        model = self._engine.models.loaded
        if model is not None:
            return model.tokenizer, self._engine.embeddings_for(model)
        if self._fallback is None:
            from transformers import CLIPTokenizer

            from modules.models.loading import SD1_CONFIG_DIR

            self._fallback = CLIPTokenizer.from_pretrained(SD1_CONFIG_DIR / "tokenizer")
        return self._fallback, None

    def count(self, text: str, steps: int = 20) -> tuple[int, int]:
        from modules.processing.prompting import encode_options, prompt_parts
        from modules.prompts.chunks import CHUNK_TOKENS
        from modules.prompts.conditioning import PromptTokenizer
        from modules.prompts.extra_networks import strip_tags

        engine = self._engine
        text, _ = strip_tags(engine.prepare_prompts(text or "", "", [])[0])
        tokenizer, embeddings = self._tokenizer_and_embeddings()
        counter = PromptTokenizer(tokenizer, encode_options(engine.settings), embeddings)
        texts = {t for part in prompt_parts(text, max(1, steps)) for _, t in part.schedule}
        count = max((counter.count(t) for t in texts), default=0)
        return count, max(CHUNK_TOKENS, -(-count // CHUNK_TOKENS) * CHUNK_TOKENS)
