"""Start the mtvif_ros fusion node (and optionally rviz2).

    ros2 launch mtvif_ros fusion.launch.py ir_topic:=/thermal/image_raw \
        visible_topic:=/camera/image_raw device:=cuda rviz:=true

Empty ``checkpoint``/``device``/``precision`` arguments leave the value of the params file.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "mtvif_ros"

# launch argument -> node parameter it overrides when not empty
PARAM_ARGS = {
    "checkpoint": "model.checkpoint",
    "device": "model.device",
    "precision": "model.precision",
}
# launch argument -> node topic it remaps
TOPIC_ARGS = {"ir_topic": "ir/image", "visible_topic": "visible/image"}

ARGUMENTS = [
    ("ir_topic", "ir/image", "infrared image topic (sensor_msgs/Image)"),
    ("visible_topic", "visible/image", "visible image topic (sensor_msgs/Image)"),
    (
        "params_file",
        PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fusion.yaml"]),
        "parameters file",
    ),
    ("checkpoint", "", "model checkpoint .pt (empty: params file / packaged default)"),
    ("device", "", "auto | cpu | cuda | cuda:N (empty: params file)"),
    ("precision", "", "fp32 | fp16 | bf16 (empty: params file)"),
    ("namespace", "", "namespace of the node and its topics"),
    ("use_sim_time", "false", "use /clock (bag replay with --clock)"),
    ("rviz", "false", "also start rviz2 with config/fusion.rviz"),
]


def _fusion_node(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    overrides = {param: arg(a) for a, param in PARAM_ARGS.items() if arg(a)}
    overrides["use_sim_time"] = arg("use_sim_time").lower() in ("true", "1", "yes")
    return [
        Node(
            package=PACKAGE,
            executable="fusion_node",
            name="mtvif_fusion",
            namespace=arg("namespace"),
            parameters=[arg("params_file"), overrides],
            remappings=[(topic, arg(a)) for a, topic in TOPIC_ARGS.items()],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    rviz_config = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fusion.rviz"])
    return LaunchDescription(
        [DeclareLaunchArgument(n, default_value=d, description=t) for n, d, t in ARGUMENTS]
        + [
            OpaqueFunction(function=_fusion_node),
            Node(
                package="rviz2",
                executable="rviz2",
                arguments=["-d", rviz_config],
                parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
                condition=IfCondition(LaunchConfiguration("rviz")),
                output="screen",
            ),
        ]
    )
