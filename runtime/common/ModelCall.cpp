//===- ModelCall.cpp - memref descriptors and quant_model_entry -----------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <algorithm>
#include <cstdlib>

using namespace qrt;

ModelResults::ModelResults(const QuantModelDesc &model) : model_(model) {
  size_t total = 0;
  offsets_.assign(model.num_outputs, 0);
  for (int32_t i = 0; i < model.num_outputs; ++i) {
    offsets_[i] = total;
    total += descriptorWords(model.outputs[i].rank);
  }
  words_.assign(total, 0);
}

ModelResults::~ModelResults() {
  if (!owned_)
    return;
  // Outputs are fresh buffers, but free each allocation once even if the
  // model returned one buffer twice.
  std::vector<void *> freed;
  for (int32_t i = 0; i < model_.num_outputs; ++i) {
    void *p = allocated(i);
    if (!p || std::find(freed.begin(), freed.end(), p) != freed.end())
      continue;
    freed.push_back(p);
    quant_rt_free(p);
  }
}

void *ModelResults::allocated(int32_t i) const {
  return reinterpret_cast<void *>(static_cast<intptr_t>(descriptor(i)[0]));
}

char *ModelResults::base(int32_t i) const {
  char *aligned =
      reinterpret_cast<char *>(static_cast<intptr_t>(descriptor(i)[1]));
  size_t elemBytes = elementBytes(descDtype(model_.outputs[i]));
  return aligned + descriptor(i)[2] * static_cast<int64_t>(elemBytes);
}

QuantStatus ModelResults::validate() const {
  for (int32_t i = 0; i < model_.num_outputs; ++i) {
    const QuantTensorDesc &desc = model_.outputs[i];
    auto what = [&] { return std::string("output '") + desc.name + "'"; };
    const int64_t *size = sizes(i);
    for (int32_t d = 0; d < desc.rank; ++d) {
      if (size[d] < 0 || (desc.shape[d] >= 0 && size[d] != desc.shape[d]))
        return fail(QUANT_ERROR_INTERNAL,
                    "the model produced " + what() + " with shape " +
                        shapeString(desc.rank, size) + ", but declares " +
                        shapeString(desc.rank, desc.shape));
    }
    int64_t numel;
    if (!numElements(desc.rank, size, elementBytes(descDtype(desc)), numel))
      return fail(QUANT_ERROR_INTERNAL,
                  "the model produced " + what() + " with too many elements");
    if (numel > 0 && descriptor(i)[1] == 0)
      return fail(QUANT_ERROR_OUT_OF_MEMORY,
                  "the model could not allocate " + what());
  }
  return QUANT_OK;
}

QuantStatus qrt::callModel(const QuantModelDesc &model,
                           const QuantDLTensor *inputs, ModelResults &results) {
  // One descriptor per input, each in its own slot of one word array. The
  // strides passed are always compact: checkTensor accepted only compact
  // tensors, and the generated code assumes the identity layout.
  size_t total = 0;
  SmallArray<size_t, 8> offsets(model.num_inputs);
  for (int32_t i = 0; i < model.num_inputs; ++i) {
    offsets[i] = total;
    total += descriptorWords(model.inputs[i].rank);
  }
  SmallArray<int64_t, 64> words(total, 0);
  SmallArray<void *, 8> pointers(model.num_inputs);
  for (int32_t i = 0; i < model.num_inputs; ++i) {
    const QuantDLTensor &t = inputs[i];
    int32_t rank = model.inputs[i].rank;
    int64_t *w = words.data() + offsets[i];
    intptr_t base = reinterpret_cast<intptr_t>(tensorBase(t));
    w[0] = base;
    w[1] = base;
    w[2] = 0;
    int64_t stride = 1;
    for (int32_t d = rank - 1; d >= 0; --d) {
      w[3 + d] = t.shape[d];
      w[3 + rank + d] = stride;
      stride *= t.shape[d];
    }
    pointers[i] = w;
  }

  // No object with a destructor may live between the setjmp and the frames
  // quant_rt_check_failed jumps over: only generated code runs in between.
  AllocationScope allocations;
  RunState run;
  RunState *outer = currentRun;
  currentRun = &run;
  if (setjmp(run.jump) != 0) {
    currentRun = outer;
    allocations.releaseAll();
    return fail(run.status, run.message);
  }
  quant_model_entry(pointers.data(), results.words());
  currentRun = outer;
  results.owned_ = true;
  return results.validate();
}
