namespace CompactAI.Chat;

/// <summary>
/// The Jinja sources of the <see cref="BuiltInChatTemplate"/> fallbacks: each is the published template of a
/// reference model of that format (see Goldens/chat-builtin-templates.json, rendered by the goldens script).
/// </summary>
internal static class BuiltInChatTemplates
{
    /// <summary>ChatML (<c>&lt;|im_start|&gt;role\n...&lt;|im_end|&gt;</c>), used by Qwen, SmolLM and most fine-tunes.</summary>
    public const string ChatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>Llama 3 (<c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n...&lt;|eot_id|&gt;</c>), Meta-Llama-3-Instruct's template.</summary>
    public const string Llama3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    /// <summary>Gemma (<c>&lt;start_of_turn&gt;user\n...&lt;end_of_turn&gt;</c>, assistant as <c>model</c>, system folded into the first user turn), Gemma 3's template.</summary>
    public const string Gemma = "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string -%}\n        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n    {%- else -%}\n        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n    {%- endif -%}\n    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n    {%- elif message['content'] is iterable -%}\n        {%- for item in message['content'] -%}\n            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n";

    /// <summary>Phi-3 (<c>&lt;|user|&gt;\n...&lt;|end|&gt;</c>), Phi-3.5-mini-instruct's template.</summary>
    public const string Phi3 = "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

    /// <summary>Zephyr (<c>&lt;|user|&gt;\n...&lt;/s&gt;</c>), as used by TinyLlama-Chat and zephyr-7b.</summary>
    public const string Zephyr = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    /// <summary>The source of <paramref name="kind"/>.</summary>
    public static string SourceOf(BuiltInChatTemplate kind) => kind switch
    {
        BuiltInChatTemplate.ChatML => ChatML,
        BuiltInChatTemplate.Llama3 => Llama3,
        BuiltInChatTemplate.Gemma => Gemma,
        BuiltInChatTemplate.Phi3 => Phi3,
        BuiltInChatTemplate.Zephyr => Zephyr,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown built-in chat template"),
    };
}
