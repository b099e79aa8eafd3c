function extract_answer(reply) {
  return reply.trim();
}
